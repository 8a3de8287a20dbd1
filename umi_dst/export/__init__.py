"""Export: a seed as a standalone script and bug report, and the renderer API backends implement."""
