"""Screens: the main screen, the error screen and the modal dialogs."""
