package life

import (
	"context"
	"errors"
	goruntime "runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errGone = errors.New("gone")

func TestCloseCancelsWithCauseAndWaitsForWhatIsInFlight(t *testing.T) {
	l := New(context.Background())
	require.True(t, l.Enter())
	require.NoError(t, l.Err())
	require.True(t, l.Close(errGone))
	require.False(t, l.Close(errGone), "once")
	require.ErrorIs(t, l.Err(), errGone)
	require.ErrorIs(t, context.Cause(l.Context()), errGone)
	require.False(t, l.Enter(), "nothing enters once closing")
	select {
	case <-l.idle:
		t.Fatal("idle with an operation in flight")
	default:
	}
	c, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, l.Wait(c), context.Canceled)
	l.Exit()
	require.NoError(t, l.Wait(context.Background()))
}

func TestCloseWithNothingInFlightIsIdleAtOnce(t *testing.T) {
	l := New(context.Background())
	require.True(t, l.Enter())
	l.Exit()
	require.False(t, l.Closed())
	l.Close(errGone)
	require.True(t, l.Closed())
	<-l.idle
}

func TestParentEndCancelsButDoesNotClose(t *testing.T) {
	parent := New(context.Background())
	child := New(parent.Context())
	parent.Close(errGone)
	<-child.Done()
	require.ErrorIs(t, child.Err(), errGone, "the parent's cause")
	require.False(t, child.Closed())
	require.True(t, child.Enter(), "its owner still decides when to release")
	child.Exit()
}

func TestConcurrentEnterExitAndClose(t *testing.T) {
	for range 100 {
		l := New(context.Background())
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 100 {
					if !l.Enter() {
						return
					}
					l.Exit()
				}
			})
		}
		goruntime.Gosched()
		l.Close(errGone)
		require.NoError(t, l.Wait(context.Background()))
		wg.Wait()
	}
}

func TestEndReleasesOnceNothingIsInFlight(t *testing.T) {
	l := New(context.Background())
	released := make(chan struct{})
	release := func(context.Context) error { close(released); return nil }
	require.True(t, l.Enter())
	c, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, l.End(c, errGone, release), context.Canceled)
	select {
	case <-released:
		t.Fatal("released with an operation in flight")
	default:
	}
	require.NoError(t, l.End(context.Background(), errGone, release), "a second End does nothing")
	l.Exit()
	<-released
}
