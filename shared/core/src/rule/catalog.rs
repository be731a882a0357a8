//! The catalog: built-in detections plus the user's.
