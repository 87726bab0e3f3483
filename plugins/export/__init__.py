"""Export plugin: render a project's scenes into a downloadable video."""
