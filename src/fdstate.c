/* fdstate: being written */
