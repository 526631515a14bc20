/* kernel: being written */
