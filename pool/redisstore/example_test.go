package redisstore_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/snakepit-wasm/snakepit/pool"
	"github.com/snakepit-wasm/snakepit/pool/redisstore"
	"github.com/snakepit-wasm/snakepit/runtime"
)

// Every process serving the same sessions opens the same Redis, with the
// same Seed (a secret of the deployment): a session one of them spilled, or
// saved when it closed, resumes in any of them on its next call. It needs a
// Redis server, so it is compiled but not run; the package's tests run the
// same against a real one.
func Example() {
	ctx := context.Background()
	st, err := redisstore.Open(ctx, "redis://127.0.0.1:6379/0", redisstore.Options{
		Prefix: "myapp:sessions:",
		TTL:    24 * time.Hour, // a session idle for a day is gone
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()

	rt, err := runtime.New(ctx, runtime.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Close(ctx)
	seed, err := os.ReadFile("/etc/myapp/seed")
	if err != nil {
		fmt.Println(err)
		return
	}
	ss, err := pool.NewSessions(ctx, rt, pool.Options{Size: 2, Store: st, Seed: seed})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ss.Close(ctx) // saves the live sessions to Redis

	res, err := ss.Session("conversation-42").Run(ctx, runtime.Exec("x = globals().get('x', 0) + 1\nx"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(res.Value)) // 1 the first time, and one more each run of the program
}
