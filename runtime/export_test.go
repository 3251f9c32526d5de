package runtime

// WithAllLoops returns cfg set to check every loop header, the eval loop's
// dispatch included, as InterruptLoops did before the tick import: the
// interrupt benchmark measures what the ticks save.
func WithAllLoops(cfg Config) Config {
	cfg.allLoops = true
	return cfg
}
