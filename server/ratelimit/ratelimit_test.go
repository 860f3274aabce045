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
