"""What the user wrote: settings and discovery, the spec file, its JSON Schema, YAML with positions."""
