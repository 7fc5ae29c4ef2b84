"""Reelstream shared code: the platform runtime and the generated protobuf contract."""
