package runtime

// WithAllLoops returns cfg set to check every loop header, the eval loop's
// dispatch included, with CPython's tick calls turned into nops: the
// interrupt benchmark measures what the ticks save.
func WithAllLoops(cfg Config) Config {
	cfg.allLoops = true
	return cfg
}

// WithInLoopYield returns cfg set to check loops as before they were split:
// the yield call inside each loop.
func WithInLoopYield(cfg Config) Config {
	cfg.inLoop = true
	return cfg
}
