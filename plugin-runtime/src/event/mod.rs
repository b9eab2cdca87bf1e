//! Event codec: filled in by the codec work.
