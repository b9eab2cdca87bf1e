//! Example plugin: being written.
