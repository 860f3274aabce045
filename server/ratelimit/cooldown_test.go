package ratelimit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/ratelimit"
	"github.com/sesame-edu/sesame/server/store/storetest"
)

// TestCooldowns: one action a minute per key, exactly, on the real store:
// never two less than the wait apart, however the clicks fall, and
// clicking while told to wait does not lengthen the wait.
func TestCooldowns(t *testing.T) {
	st := storetest.New(t)
	ctx := context.Background()
	base := time.Date(2026, 11, 26, 10, 10, 0, 0, time.UTC) // on a minute's boundary
	var mu sync.Mutex
	now := base
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	at := func(d time.Duration) { mu.Lock(); now = base.Add(d); mu.Unlock() }
	c := ratelimit.NewCooldowns(st.Limits(), clock)
	take := func(key string, d time.Duration) ratelimit.Decision {
		t.Helper()
		at(d)
		dec, err := c.Take(ctx, key, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return dec
	}

	for _, tc := range []struct {
		name        string
		first, then time.Duration
		allowed     bool
	}{
		{"a double click", 10 * time.Second, 10*time.Second + 300*time.Millisecond, false},
		{"a double click across a minute's end", 59*time.Second + 800*time.Millisecond, 60*time.Second + 100*time.Millisecond, false},
		{"half a minute later, across a boundary", 29*time.Second + 900*time.Millisecond, 60*time.Second + 100*time.Millisecond, false},
		{"a minute later", 10 * time.Second, 70 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "office-code:" + tc.name
			if d := take(key, tc.first); !d.Allowed {
				t.Fatalf("first click refused: %+v", d)
			}
			d := take(key, tc.then)
			if d.Allowed != tc.allowed {
				t.Fatalf("second click %v later: %+v, want allowed %v", tc.then-tc.first, d, tc.allowed)
			}
			if d.Allowed {
				return
			}
			if want := tc.first + time.Minute - tc.then; d.RetryAfter != want {
				t.Errorf("retry after %v, want %v (a minute after the allowed click)", d.RetryAfter, want)
			}
		})
	}

	t.Run("clicking while told to wait does not lengthen the wait", func(t *testing.T) {
		key := "office-code:hammer"
		if d := take(key, 0); !d.Allowed {
			t.Fatalf("first click refused: %+v", d)
		}
		for s := 5; s < 60; s += 5 {
			if d := take(key, time.Duration(s)*time.Second); d.Allowed {
				t.Fatalf("allowed %d s after the first", s)
			}
		}
		if d := take(key, 60*time.Second); !d.Allowed {
			t.Errorf("refused a minute after the first, after clicks every 5 s: %+v", d)
		}
	})

	t.Run("sixteen clicks at once let one through", func(t *testing.T) {
		at(10 * time.Minute)
		var allowed atomic.Int32
		storetest.Race(16, func(int) {
			d, err := c.Take(ctx, "office-code:burst", time.Minute)
			if err != nil {
				t.Error(err)
			}
			if d.Allowed {
				allowed.Add(1)
			}
		})
		if n := allowed.Load(); n != 1 {
			t.Errorf("%d clicks allowed, want 1", n)
		}
	})
}
