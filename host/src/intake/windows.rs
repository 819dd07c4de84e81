//! Placeholder: the Windows event model and its mapping, being written.
