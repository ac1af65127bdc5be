"""Adapters: the only modules that import third-party SDKs; each implements a port."""
