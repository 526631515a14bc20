/* interpose: being written */
