package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/ratelimit"
)

// TestRateLimitStore is the contract of ratelimit.Store: every hit on a key
// gets a rank of its own, 1, 2, 3…, however many instances hit at once.
func TestRateLimitStore(t *testing.T, open func(t *testing.T) ratelimit.Store) {
	ctx := context.Background()
	expires := time.Now().Add(time.Hour)

	t.Run("HitsCountPerKey", func(t *testing.T) {
		s := open(t)
		tests := []struct {
			key  string
			want int
		}{
			{"ip:192.0.2.1", 1},
			{"ip:192.0.2.1", 2},
			{"ip:192.0.2.2", 1},
			{"ip:192.0.2.1", 3},
			{"id:p001", 1},
		}
		for i, tt := range tests {
			if got, err := s.Hit(ctx, tt.key, expires); err != nil || got != tt.want {
				t.Errorf("hit %d on %s = %d, %v; want %d", i+1, tt.key, got, err, tt.want)
			}
		}
	})

	t.Run("ConcurrentHitsGetUniqueRanks", func(t *testing.T) {
		s := open(t)
		const n = 3 * racers
		ranks := make([]int, n)
		errs := make([]error, n)
		Race(n, func(i int) { ranks[i], errs[i] = s.Hit(ctx, "ip:192.0.2.1", expires) })
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		slices.Sort(ranks)
		for i, r := range ranks {
			if r != i+1 {
				t.Fatalf("ranks %v: concurrent hits shared or skipped a rank", ranks)
			}
		}
		if got, err := s.Hit(ctx, "ip:192.0.2.1", expires); err != nil || got != n+1 {
			t.Errorf("the next hit = %d, %v; want %d", got, err, n+1)
		}
	})
}

// TestThrottleStore is the contract of ratelimit.ThrottleStore: its
// primitives, and the states of a ratelimit.Throttle running on it.
func TestThrottleStore(t *testing.T, open func(t *testing.T) ratelimit.ThrottleStore) {
	ctx := context.Background()
	expires := time.Now().Add(time.Hour)

	t.Run("UnknownKeyIsFresh", func(t *testing.T) {
		s := open(t)
		gen, until, refunds, err := s.ThrottleState(ctx, "id:nobody")
		if err != nil || gen != 0 || !until.IsZero() || refunds != 0 {
			t.Errorf("ThrottleState(unknown) = %d, %v, %d, %v; want 0, zero, 0, nil", gen, until, refunds, err)
		}
	})

	t.Run("ClaimOnce", func(t *testing.T) {
		s := open(t)
		for i, want := range []bool{true, false, false} {
			if ok, err := s.Claim(ctx, "gate", expires); err != nil || ok != want {
				t.Errorf("claim %d = %v, %v; want %v", i+1, ok, err, want)
			}
		}
		if ok, err := s.Claim(ctx, "another gate", expires); err != nil || !ok {
			t.Errorf("claim of another key = %v, %v; want true", ok, err)
		}
	})

	t.Run("ConcurrentClaimsOneWins", func(t *testing.T) {
		s := open(t)
		oks := make([]bool, racers)
		errs := make([]error, racers)
		Race(racers, func(i int) { oks[i], errs[i] = s.Claim(ctx, "gate", expires) })
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		if n := len(slices.DeleteFunc(oks, func(ok bool) bool { return !ok })); n != 1 {
			t.Errorf("%d of %d concurrent claimers won, want exactly 1", n, racers)
		}
	})

	// A claim lives until its expiry; once swept, the key can be claimed
	// afresh (a throttle's gates are named after deadlines long past).
	t.Run("ExpiredClaimsAreSwept", func(t *testing.T) {
		s := open(t)
		sw, ok := s.(interface {
			SweepClaims(ctx context.Context, now time.Time) (int, error)
		})
		if !ok {
			t.Skip("the store has no SweepClaims")
		}
		for _, c := range []struct {
			key     string
			expires time.Time
		}{{"old gate", time.Now().Add(-time.Second)}, {"live gate", expires}} {
			if ok, err := s.Claim(ctx, c.key, c.expires); err != nil || !ok {
				t.Fatalf("Claim(%s) = %v, %v", c.key, ok, err)
			}
		}
		if n, err := sw.SweepClaims(ctx, time.Now()); err != nil || n != 1 {
			t.Errorf("SweepClaims = %d, %v; want the 1 expired claim", n, err)
		}
		tests := []struct {
			key  string
			want bool
		}{{"old gate", true}, {"live gate", false}}
		for _, tt := range tests {
			if ok, err := s.Claim(ctx, tt.key, expires); err != nil || ok != tt.want {
				t.Errorf("Claim(%s) after the sweep = %v, %v; want %v", tt.key, ok, err, tt.want)
			}
		}
	})

	t.Run("BlockRefundReset", func(t *testing.T) {
		s := open(t)
		at := fixed()
		type state struct {
			gen     int
			until   time.Time
			refunds int
		}
		steps := []struct {
			name string
			do   func() error
			want state
		}{
			{"block", func() error { return s.Block(ctx, "k", at.Add(time.Minute), expires) }, state{0, at.Add(time.Minute), 0}},
			{"block further", func() error { return s.Block(ctx, "k", at.Add(2*time.Minute), expires) }, state{0, at.Add(2 * time.Minute), 0}},
			{"block never lowers", func() error { return s.Block(ctx, "k", at.Add(time.Second), expires) }, state{0, at.Add(2 * time.Minute), 0}},
			{"refund", func() error { return s.Refund(ctx, "k", expires) }, state{0, at.Add(2 * time.Minute), 1}},
			{"refund again", func() error { return s.Refund(ctx, "k", expires) }, state{0, at.Add(2 * time.Minute), 2}},
			{"reset", func() error { return s.Reset(ctx, "k", expires) }, state{1, time.Time{}, 0}},
			{"reset again", func() error { return s.Reset(ctx, "k", expires) }, state{2, time.Time{}, 0}},
		}
		for _, st := range steps {
			if err := st.do(); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			gen, until, refunds, err := s.ThrottleState(ctx, "k")
			if err != nil || gen != st.want.gen || !until.Equal(st.want.until) || refunds != st.want.refunds {
				t.Errorf("after %s: ThrottleState = %d, %v, %d, %v; want %+v", st.name, gen, until, refunds, err, st.want)
			}
		}
		if gen, _, _, _ := s.ThrottleState(ctx, "other"); gen != 0 {
			t.Errorf("another key has generation %d", gen)
		}
	})

	// The states of a Throttle with 3 free attempts, a 1-minute base and
	// a 1-hour cap, on a clock that moves only when told.
	const free, base = 3, time.Minute
	newThrottle := func(s ratelimit.ThrottleStore, clock *time.Time) *ratelimit.Throttle {
		return ratelimit.NewThrottle(s, free, base, time.Hour, func() time.Time { return *clock })
	}

	t.Run("ThrottleAttemptFailRefundSucceed", func(t *testing.T) {
		s := open(t)
		clock := fixed()
		th := newThrottle(s, &clock)
		attempt := func(step string, wantWait time.Duration) ratelimit.Ticket {
			t.Helper()
			tk, wait, err := th.Attempt(ctx, "id:p001")
			if err != nil || wait != wantWait {
				t.Fatalf("%s: Attempt = wait %s, %v; want wait %s", step, wait, err, wantWait)
			}
			return tk
		}
		fail := func(step string, tk ratelimit.Ticket, wantWait time.Duration) {
			t.Helper()
			if wait, err := th.Fail(ctx, tk); err != nil || wait != wantWait {
				t.Fatalf("%s: Fail = wait %s, %v; want %s", step, wait, err, wantWait)
			}
		}
		// A success refunded does not count among the failures.
		if err := th.Refund(ctx, attempt("success", 0)); err != nil {
			t.Fatal(err)
		}
		for i := range free {
			fail(fmt.Sprint("free failure ", i+1), attempt(fmt.Sprint("free attempt ", i+1), 0), 0)
		}
		fail("first strike", attempt("gated attempt", 0), base)
		attempt("while blocked", base)
		clock = clock.Add(base)
		fail("second strike", attempt("after the wait", 0), 2*base)
		clock = clock.Add(2 * base)
		if err := th.Succeed(ctx, "id:p001"); err != nil {
			t.Fatal(err)
		}
		for i := range free {
			attempt(fmt.Sprint("after success, attempt ", i+1), 0)
		}
	})

	t.Run("ConcurrentAttemptsAdmitOnlyTheFreeOnes", func(t *testing.T) {
		s := open(t)
		clock := fixed()
		th := newThrottle(s, &clock)
		waits := make([]time.Duration, racers)
		errs := make([]error, racers)
		Race(racers, func(i int) { _, waits[i], errs[i] = th.Attempt(ctx, "id:p001") })
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		if n := len(slices.DeleteFunc(waits, func(w time.Duration) bool { return w > 0 })); n != free {
			t.Errorf("%d of %d concurrent attempts admitted, want the %d free ones", n, racers, free)
		}
	})

	t.Run("ConcurrentAttemptsAfterABlockAdmitOne", func(t *testing.T) {
		s := open(t)
		clock := fixed()
		th := newThrottle(s, &clock)
		for range free {
			tk, _, err := th.Attempt(ctx, "id:p001")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := th.Fail(ctx, tk); err != nil {
				t.Fatal(err)
			}
		}
		waits := make([]time.Duration, racers)
		errs := make([]error, racers)
		Race(racers, func(i int) { _, waits[i], errs[i] = th.Attempt(ctx, "id:p001") })
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		if n := len(slices.DeleteFunc(waits, func(w time.Duration) bool { return w > 0 })); n != 1 {
			t.Errorf("%d of %d concurrent attempts admitted past the free ones, want exactly 1", n, racers)
		}
	})
}
