// Package redisstore is a pool.Store on Redis, for Sessions pools in
// several processes or machines that share their sessions: a session
// spilled or saved at shutdown by one process resumes in any other with the
// same build and pool.Options.Seed.
//
// Redis is usually shared, and what a store reads back is a guest's state:
// keys are namespaced by a prefix, and images are capped in size both ways
// (Options.MaxImage), so that no value under the prefix makes a process
// read more than the cap. An image is still untrusted once read: the pool
// checks it (runtime.Snapshot.Restore).
//
// It is a package of its own so that the go-redis client is a dependency of
// those who use it only.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/snakepit-wasm/snakepit/internal/errkind"
	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/runtime"
)

// ErrTooLarge is wrapped by the error of a Put or Get whose image is over
// Options.MaxImage. It matches runtime.ErrBadImage, so that a pool drops a
// stored image it can never read (the session starts anew). Kind image.
var ErrTooLarge = errkind.Wrap(errkind.Image, "session image over the store's cap", runtime.ErrBadImage)

// Options configure a Store. The zero value is usable.
type Options struct {
	// Prefix goes before every key in Redis, so that the store's keys meet
	// no other application's, nor another deployment's sharing the server.
	// Default "snakepit:session:".
	Prefix string
	// MaxImage caps an image's size in bytes: Put refuses a larger one, and
	// Get reads at most this much (a larger value is refused). Default
	// 64 MiB; a small session's image is a few hundred KiB.
	MaxImage int
	// TTL, if positive, is how long an image lives after its Put; Redis
	// then deletes it, and the session with it. A pool spills a session
	// after it has been idle (pool.Options.SpillIdle), so a TTL is how long
	// an idle session may wait to be resumed. Default: no expiry.
	TTL time.Duration
}

// DefaultPrefix and DefaultMaxImage are the defaults of Options.
const (
	DefaultPrefix   = "snakepit:session:"
	DefaultMaxImage = 64 << 20
)

// Store is a pool.Store on Redis: one string value per key, written whole
// by SET, so that a reader never sees half an image. Its methods may be
// called concurrently. Durability is Redis's: with its default settings a
// crash of the Redis server loses the images written since its last save.
type Store struct {
	c     redis.UniversalClient
	opts  Options
	own   bool // Open made c: Close closes it
	close sync.Once
	err   error
}

// New returns a Store on c (a *redis.Client, or a cluster's client). c stays
// the caller's: Close leaves it open.
func New(c redis.UniversalClient, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.MaxImage <= 0 {
		opts.MaxImage = DefaultMaxImage
	}
	return &Store{c: c, opts: opts}
}

// Open connects to the Redis server at url (redis://[user:password@]host:port/db,
// rediss:// for TLS, or unix://, as redis.ParseURL reads them), checks that
// it answers, and returns a Store on it; Close closes the connections.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	ro, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis session store: %w", err)
	}
	c := redis.NewClient(ro)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis session store at %s: %w", ro.Addr, err)
	}
	s := New(c, opts)
	s.own = true
	return s, nil
}

// Close closes the connections if Open made them; a Store from New leaves
// its client to the caller. It is safe to call more than once.
func (s *Store) Close() error {
	s.close.Do(func() {
		if s.own {
			s.err = s.c.Close()
		}
	})
	return s.err
}

var _ pool.Store = (*Store)(nil)

func (s *Store) key(k string) string { return s.opts.Prefix + k }

// Put implements pool.Store. With Options.TTL the image expires TTL after
// this Put.
func (s *Store) Put(ctx context.Context, key string, image []byte) error {
	if len(image) > s.opts.MaxImage {
		return fmt.Errorf("redis session store: %w: %d bytes, the cap is %d", ErrTooLarge, len(image), s.opts.MaxImage)
	}
	if err := s.c.Set(ctx, s.key(key), image, max(s.opts.TTL, 0)).Err(); err != nil {
		return fmt.Errorf("redis session store: %w", err)
	}
	return nil
}

// Get implements pool.Store. It reads at most Options.MaxImage bytes plus
// one: a longer value fails with ErrTooLarge without being read whole.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	k := s.key(key)
	var exists *redis.IntCmd
	var val *redis.StringCmd
	// GETRANGE bounds what crosses the wire but answers "" for a missing
	// key; EXISTS in the same transaction tells the two apart.
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		exists = p.Exists(ctx, k)
		val = p.GetRange(ctx, k, 0, int64(s.opts.MaxImage))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redis session store: %w", err)
	}
	if exists.Val() == 0 {
		return nil, fmt.Errorf("redis session store: %w", fs.ErrNotExist)
	}
	b, err := val.Bytes()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redis session store: %w", err)
	}
	if len(b) > s.opts.MaxImage {
		return nil, fmt.Errorf("redis session store: %w: over %d bytes", ErrTooLarge, s.opts.MaxImage)
	}
	return b, nil
}

// Delete implements pool.Store. It unlinks the key: Redis frees the value
// in the background.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.c.Unlink(ctx, s.key(key)).Err(); err != nil {
		return fmt.Errorf("redis session store: %w", err)
	}
	return nil
}
