"""The ``assure`` command line: parses arguments, calls the library, prints."""
