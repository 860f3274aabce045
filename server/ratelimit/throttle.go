package ratelimit

import (
	"context"
	"fmt"
	"time"
)

// ThrottleStore keeps the state of throttled keys.
type ThrottleStore interface {
	Store
	// Claim records key and reports whether this call was the first to do
	// so, atomically across every instance sharing the store.
	Claim(ctx context.Context, key string, expires time.Time) (bool, error)
	// ThrottleState returns the key's generation (raised by each Reset),
	// the time before which attempts are refused, and how many of the
	// generation's attempts were refunded by a success.
	ThrottleState(ctx context.Context, key string) (gen int, blockedUntil time.Time, refunds int, err error)
	// Refund adds one to the key's refunds. It may lose a concurrent
	// increment (the embedded server's $inc is a read and a write): that
	// only errs on the strict side.
	Refund(ctx context.Context, key string, expires time.Time) error
	// Block pushes the key's deadline to until, never back.
	Block(ctx context.Context, key string, until, expires time.Time) error
	// Reset starts a new generation and lifts the block.
	Reset(ctx context.Context, key string, expires time.Time) error
}

// Blocked is a throttled key that makes its attempts wait until Until.
type Blocked struct {
	Key   string
	Until time.Time
}

// ThrottleLister finds the keys of one family that are blocked, for the
// office console: base itself and its narrowings "base|…".
type ThrottleLister interface {
	BlockedKeys(ctx context.Context, base string, now time.Time) ([]Blocked, error)
}

// Throttle slows down guessing: after Free failures, each further failure
// doubles the wait before the next attempt (Base, 2×Base, …, up to Max).
// It never locks for good, so nobody can lock a parent out of their
// account by typing wrong passwords on purpose; a success starts afresh.
//
// An attempt is reserved (counted) before the password is checked, with
// the one primitive that is atomic on every MongoDB-compatible server, the
// unique insert: checking the block first and counting the failure after
// the check let 100 guesses sent at once all be evaluated.
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

// Ticket is a reserved attempt: the caller checks the password, then
// reports a failure with Fail, or a success with Refund (or Succeed, which
// starts a new generation).
type Ticket struct {
	key   string
	gen   int
	rank  int  // the attempt's rank among this generation's attempts
	gated bool // admitted past the free attempts, one at a time
}

// Key is the key the attempt was reserved on.
func (tk Ticket) Key() string { return tk.key }

// Attempt reserves an attempt on key. A positive wait means the attempt is
// refused and the password must not be checked.
//
// The first Free attempts of a generation are admitted at once, whatever
// their number in flight: each claims its own rank. Past them, an attempt is
// admitted only after the last failure's wait has passed, and then only one:
// it claims the gate named after that deadline, so concurrent attempts
// cannot all slip through when a block ends.
func (t *Throttle) Attempt(ctx context.Context, key string) (Ticket, time.Duration, error) {
	gen, until, refunds, err := t.store.ThrottleState(ctx, key)
	if err != nil {
		return Ticket{}, 0, fmt.Errorf("ratelimit: throttle: %w", err)
	}
	now := t.now()
	if d := until.Sub(now); d > 0 {
		return Ticket{}, d, nil
	}
	n, err := t.store.Hit(ctx, fmt.Sprintf("thr|%s|%d", key, gen), now.Add(memory))
	if err != nil {
		return Ticket{}, 0, fmt.Errorf("ratelimit: throttle: %w", err)
	}
	// Attempts that succeeded were refunded: they are not failures.
	n -= refunds
	tk := Ticket{key: key, gen: gen, rank: n}
	if n <= t.Free {
		return tk, 0, nil
	}
	if until.IsZero() {
		// The free attempts are still being checked: none has failed yet.
		return Ticket{}, t.Base, nil
	}
	// One gate per deadline; a new gate every Max after it, so that an
	// attempt that died while holding the gate does not lock the key.
	bucket := int64(now.Sub(until) / t.Max)
	ok, err := t.store.Claim(ctx, fmt.Sprintf("thrgate|%s|%d|%d|%d", key, gen, until.UnixNano(), bucket), now.Add(memory))
	if err != nil {
		return Ticket{}, 0, fmt.Errorf("ratelimit: throttle: %w", err)
	}
	if !ok {
		return Ticket{}, t.Base, nil
	}
	tk.gated = true
	return tk, 0, nil
}

// Fail records that a reserved attempt failed and returns the wait it
// imposes on the next one (0: none yet).
func (t *Throttle) Fail(ctx context.Context, tk Ticket) (time.Duration, error) {
	if tk.key == "" {
		return 0, nil
	}
	now := t.now()
	var wait time.Duration
	switch {
	case tk.gated:
		// Strikes past the free attempts double the wait; counted with a
		// unique rank, so two instances agree.
		k, err := t.store.Hit(ctx, fmt.Sprintf("thrstrike|%s|%d", tk.key, tk.gen), now.Add(memory))
		if err != nil {
			return 0, fmt.Errorf("ratelimit: throttle: %w", err)
		}
		wait = t.Base
		for i := 1; i < k && wait < t.Max; i++ {
			wait *= 2
		}
		wait = min(wait, t.Max)
	case tk.rank < t.Free:
		return 0, nil
	}
	// The last free failure sets a deadline of now: it opens the gate for
	// the next attempt, which is admitted alone.
	if err := t.store.Block(ctx, tk.key, now.Add(wait), now.Add(memory)); err != nil {
		return 0, fmt.Errorf("ratelimit: throttle: %w", err)
	}
	return wait, nil
}

// Refund takes back a reserved attempt that succeeded, so that it does not
// count as a failure. A source shared by many people (a school's network)
// is refunded rather than reset: one good password must not wipe the
// failures of the others.
func (t *Throttle) Refund(ctx context.Context, tk Ticket) error {
	if tk.key == "" {
		return nil
	}
	now := t.now()
	if tk.gated {
		// The gate this attempt used stays used: a new deadline of now
		// opens the next one, without a wait.
		if err := t.store.Block(ctx, tk.key, now, now.Add(memory)); err != nil {
			return fmt.Errorf("ratelimit: throttle: %w", err)
		}
		return nil
	}
	if err := t.store.Refund(ctx, tk.key, now.Add(memory)); err != nil {
		return fmt.Errorf("ratelimit: throttle: %w", err)
	}
	return nil
}

// Succeed forgets the key's failures.
func (t *Throttle) Succeed(ctx context.Context, key string) error {
	if err := t.store.Reset(ctx, key, t.now().Add(memory)); err != nil {
		return fmt.Errorf("ratelimit: throttle: %w", err)
	}
	return nil
}

// Keyed is a throttle with the key it counts, for checks that hold several
// throttles at once (per account and per client address).
type Keyed struct {
	T   *Throttle
	Key string
}

// Tickets are the attempts reserved by AttemptAll.
type Tickets []struct {
	T      *Throttle
	Ticket Ticket
}

// AttemptAll reserves an attempt on every throttle, in order, and returns
// the wait of the first that refuses (0: the password may be checked).
// Throttles that admitted the attempt before one refused it are refunded,
// and later ones are not tried: a refused attempt counts nowhere, so a
// burst from one source does not use up the budget that other sources
// share. List the narrowest throttle first.
func AttemptAll(ctx context.Context, ks ...Keyed) (Tickets, time.Duration, error) {
	var out Tickets
	for _, k := range ks {
		tk, w, err := k.T.Attempt(ctx, k.Key)
		if err != nil {
			return nil, 0, err
		}
		if w > 0 {
			if err := out.Refund(ctx); err != nil {
				return nil, 0, err
			}
			return nil, w, nil
		}
		out = append(out, struct {
			T      *Throttle
			Ticket Ticket
		}{k.T, tk})
	}
	return out, 0, nil
}

// Refund takes back every reserved attempt: the password was right.
func (ts Tickets) Refund(ctx context.Context) error {
	for _, t := range ts {
		if err := t.T.Refund(ctx, t.Ticket); err != nil {
			return err
		}
	}
	return nil
}

// Fail counts a failure on every reserved attempt and returns the longest
// wait.
func (ts Tickets) Fail(ctx context.Context) (time.Duration, error) {
	var longest time.Duration
	for _, t := range ts {
		w, err := t.T.Fail(ctx, t.Ticket)
		if err != nil {
			return 0, err
		}
		longest = max(longest, w)
	}
	return longest, nil
}
