"""Service layer: what each entry point does, on top of the phases and the stores."""
