package ratelimit

import (
	"context"
	"sync"
	"testing"
	"time"
)

// memStore is a Store in memory for the limiter's unit tests, which move a
// clock the real store's rate limits do not read. It passes the same
// contract as the real store (storetest.TestRateLimitStore, run in
// contract_test.go).
type memStore struct {
	mu sync.Mutex
	m  map[string]int
}

func newMemStore() *memStore { return &memStore{m: map[string]int{}} }

func (s *memStore) Hit(_ context.Context, key string, _ time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key]++
	return s.m[key], nil
}

func TestAllow(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 10, 0, 0, time.UTC)
	l := New(newMemStore(), func() time.Time { return now })
	ctx := context.Background()
	for i := 1; i <= 5; i++ {
		d, err := l.Allow(ctx, "id:x", 5, time.Hour)
		if err != nil || !d.Allowed {
			t.Fatalf("hit %d refused: %+v %v", i, d, err)
		}
	}
	d, _ := l.Allow(ctx, "id:x", 5, time.Hour)
	if d.Allowed || d.RetryAfter != 50*time.Minute {
		t.Fatalf("6th hit = %+v, want refused for 50 min", d)
	}
	if d, _ := l.Allow(ctx, "id:y", 5, time.Hour); !d.Allowed {
		t.Error("another key is limited too")
	}
	now = now.Add(50 * time.Minute)
	if d, _ := l.Allow(ctx, "id:x", 5, time.Hour); !d.Allowed {
		t.Error("still refused in the next window: limits must end on their own")
	}
}

// TestCooldown: one hit per window, wherever the windows' boundaries
// fall; two hits are never refused for more than a window apart.
func TestCooldown(t *testing.T) {
	base := time.Date(2026, 11, 26, 10, 10, 0, 0, time.UTC) // on a minute's boundary
	for _, c := range []struct {
		name        string
		first, then time.Duration // from base
		allowed     bool
	}{
		{"a double click", 10 * time.Second, 10*time.Second + 300*time.Millisecond, false},
		{"a double click across a minute's end", 59*time.Second + 800*time.Millisecond, 60*time.Second + 100*time.Millisecond, false},
		{"a double click across the half minute", 29*time.Second + 800*time.Millisecond, 30*time.Second + 100*time.Millisecond, false},
		{"29 seconds later, across a boundary", 50 * time.Second, 79 * time.Second, false},
		{"a minute later", 10 * time.Second, 71 * time.Second, true},
		{"a minute later, from a boundary", 0, 60 * time.Second, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			now := base.Add(c.first)
			l := New(newMemStore(), func() time.Time { return now })
			if d, err := l.Cooldown(context.Background(), "office-code:p1", time.Minute); err != nil || !d.Allowed {
				t.Fatalf("first hit: %+v %v", d, err)
			}
			now = base.Add(c.then)
			d, err := l.Cooldown(context.Background(), "office-code:p1", time.Minute)
			if err != nil || d.Allowed != c.allowed {
				t.Fatalf("second hit %v later: %+v %v, want allowed %v", c.then-c.first, d, err, c.allowed)
			}
			if d.Allowed {
				return
			}
			if d.RetryAfter <= 0 || d.RetryAfter > time.Minute {
				t.Fatalf("retry after %v", d.RetryAfter)
			}
			// Whoever waits as told is let through, even after hammering
			// a little before that.
			now = now.Add(d.RetryAfter / 2)
			if d, _ := l.Cooldown(context.Background(), "office-code:p1", time.Minute); d.Allowed {
				t.Fatal("allowed before the announced wait")
			} else {
				now = now.Add(d.RetryAfter)
			}
			if d, _ := l.Cooldown(context.Background(), "office-code:p1", time.Minute); !d.Allowed {
				t.Errorf("refused after waiting as told: %+v", d)
			}
		})
	}
}
