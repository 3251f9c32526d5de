package runtime

// WithAllLoops returns cfg set to check every loop header, the eval loop's
// dispatch included, with CPython's tick calls turned into nops: the
// interrupt benchmark measures what the ticks save.
func WithAllLoops(cfg Config) Config {
	cfg.allLoops = true
	return cfg
}
