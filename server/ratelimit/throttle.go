package ratelimit

import (
	"context"
	"fmt"
	"time"
)

// ThrottleStore keeps the state of throttled keys.
type ThrottleStore interface {
	Store
	// ThrottleState returns the key's generation (raised by each success)
	// and the time before which attempts are refused.
	ThrottleState(ctx context.Context, key string) (gen int, blockedUntil time.Time, err error)
	// Block pushes the key's deadline to until, never back.
	Block(ctx context.Context, key string, until, expires time.Time) error
	// Reset starts a new generation and lifts the block.
	Reset(ctx context.Context, key string, expires time.Time) error
}

// Throttle slows down guessing: after Free failures, each further failure
// doubles the wait before the next attempt (Base, 2×Base, …, up to Max).
// It never locks for good, so nobody can lock a parent out of their
// account by typing wrong passwords on purpose; a success starts afresh.
type Throttle struct {
	store ThrottleStore
	Free  int
	Base  time.Duration
	Max   time.Duration
	now   func() time.Time
}

// NewThrottle returns a Throttle.
func NewThrottle(store ThrottleStore, free int, base, max time.Duration, now func() time.Time) *Throttle {
	return &Throttle{store: store, Free: free, Base: base, Max: max, now: now}
}

// memory is how long failures are remembered without a new one.
const memory = 24 * time.Hour

// Check returns how long to wait before an attempt may be made (0: now).
func (t *Throttle) Check(ctx context.Context, key string) (time.Duration, error) {
	_, until, err := t.store.ThrottleState(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("ratelimit: throttle: %w", err)
	}
	if d := until.Sub(t.now()); d > 0 {
		return d, nil
	}
	return 0, nil
}

// Fail counts a failure and returns the wait it imposes (0: none yet).
func (t *Throttle) Fail(ctx context.Context, key string) (time.Duration, error) {
	gen, _, err := t.store.ThrottleState(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("ratelimit: throttle: %w", err)
	}
	now := t.now()
	n, err := t.store.Hit(ctx, fmt.Sprintf("thr|%s|%d", key, gen), now.Add(memory))
	if err != nil {
		return 0, fmt.Errorf("ratelimit: throttle: %w", err)
	}
	if n <= t.Free {
		return 0, nil
	}
	wait := t.Base
	for i := t.Free + 1; i < n && wait < t.Max; i++ {
		wait *= 2
	}
	wait = min(wait, t.Max)
	if err := t.store.Block(ctx, key, now.Add(wait), now.Add(memory)); err != nil {
		return 0, fmt.Errorf("ratelimit: throttle: %w", err)
	}
	return wait, nil
}

// Succeed forgets the key's failures.
func (t *Throttle) Succeed(ctx context.Context, key string) error {
	if err := t.store.Reset(ctx, key, t.now().Add(memory)); err != nil {
		return fmt.Errorf("ratelimit: throttle: %w", err)
	}
	return nil
}

// Keyed is a throttle with the key it counts, for checks that hold several
// throttles at once (per identifier and per client address).
type Keyed struct {
	T   *Throttle
	Key string
}

// CheckAll returns the longest wait any of the throttles imposes.
func CheckAll(ctx context.Context, ks ...Keyed) (time.Duration, error) {
	var longest time.Duration
	for _, k := range ks {
		w, err := k.T.Check(ctx, k.Key)
		if err != nil {
			return 0, err
		}
		longest = max(longest, w)
	}
	return longest, nil
}

// FailAll counts a failure on every throttle and returns the longest wait.
func FailAll(ctx context.Context, ks ...Keyed) (time.Duration, error) {
	var longest time.Duration
	for _, k := range ks {
		w, err := k.T.Fail(ctx, k.Key)
		if err != nil {
			return 0, err
		}
		longest = max(longest, w)
	}
	return longest, nil
}
