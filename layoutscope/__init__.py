"""layoutscope"""
