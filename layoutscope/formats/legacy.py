"""(being written)"""
TYPES = ()
