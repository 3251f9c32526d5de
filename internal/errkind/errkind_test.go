package errkind

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOfTakesTheFirstKindInTreeOrder(t *testing.T) {
	closed, lost := New(Closed, "closed"), New(SessionLost, "lost")
	for err, want := range map[error]Kind{
		nil:              None,
		errors.New("x"):  Other,
		closed:           Closed,
		context.Canceled: Canceled,
		fmt.Errorf("a: %w", context.DeadlineExceeded):                        Deadline,
		fmt.Errorf("%w: %w", closed, context.Canceled):                       Closed,
		fmt.Errorf("%w: %w", fmt.Errorf("stop: %w", context.Canceled), lost): Canceled, // the reason before the state lost
		fmt.Errorf("%w: %w", errors.New("plain"), lost):                      SessionLost,
		Wrap(QueueTimeout, "queue timeout", context.DeadlineExceeded):        QueueTimeout,
	} {
		require.Equal(t, want, Of(err), "%v", err)
	}
	require.ErrorIs(t, Wrap(QueueTimeout, "q", context.DeadlineExceeded), context.DeadlineExceeded)
	require.Equal(t, "q: context deadline exceeded", Wrap(QueueTimeout, "q", context.DeadlineExceeded).Error())
	require.NotContains(t, All(), None)
}
