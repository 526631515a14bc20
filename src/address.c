/* address: being written */
