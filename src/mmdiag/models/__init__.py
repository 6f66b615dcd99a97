"""Model components: encoders, fusion modules, heads and whole architectures, all registry-built."""
