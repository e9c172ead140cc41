"""The registry: its layout and file formats, how it is read, and its rules on requests."""
