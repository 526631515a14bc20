/* guard: being written */
