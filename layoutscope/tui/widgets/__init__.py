"""Widgets of the main screen: the tensor tree and the four panels."""
