//! Test host: filled in by the test-host work.
