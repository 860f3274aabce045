package store_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/recovery"
	"github.com/sesame-edu/sesame/server/store/storetest"
)

func TestFlowLifecycle(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	f := recovery.Flow{ID: "f1", BrowserHash: "h", Kind: recovery.KindPassword, State: recovery.StateCodeSent, Version: 1,
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour), Request: "p001", Pending: true, Accounts: []string{}}
	if err := s.CreateFlow(ctx, f); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetFlow(ctx, "f1")
	if err != nil || got.Request != "p001" || !got.Pending || got.Version != 1 {
		t.Fatalf("GetFlow = %+v, %v", got, err)
	}
	ids, err := s.PendingFlows(ctx, now.Add(time.Second))
	if err != nil || !slices.Equal(ids, []string{"f1"}) {
		t.Errorf("PendingFlows = %v, %v", ids, err)
	}

	got.Version, got.Request, got.Pending = 2, "", false
	if err := s.SaveFlow(ctx, got); err != nil {
		t.Fatal(err)
	}
	stale := got // another writer read version 1 too
	if err := s.SaveFlow(ctx, stale); !errors.Is(err, recovery.ErrConflict) {
		t.Errorf("second write of version 2: err = %v, want ErrConflict", err)
	}
	if ids, _ := s.PendingFlows(ctx, now.Add(time.Second)); len(ids) != 0 {
		t.Errorf("processed flow still pending: %v", ids)
	}

	// Expired flows are gone for readers at once, and swept later.
	s.SetClock(func() time.Time { return now.Add(2 * time.Hour) })
	if _, err := s.GetFlow(ctx, "f1"); !errors.Is(err, recovery.ErrNotFound) {
		t.Errorf("expired flow: err = %v", err)
	}
	if n, err := s.SweepFlows(ctx, now.Add(2*time.Hour)); err != nil || n != 1 {
		t.Errorf("SweepFlows = %d, %v", n, err)
	}
}

// TestSaveFlowIsExclusive is why flows are saved through claims: of many
// writers that read the same version, exactly one may write, even on the
// embedded server whose conditional updates are not atomic.
func TestSaveFlowIsExclusive(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	now := time.Now().UTC()
	f := recovery.Flow{ID: "race", Version: 1, State: recovery.StateCodeSent, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateFlow(ctx, f); err != nil {
		t.Fatal(err)
	}
	for round := 2; round <= 6; round++ {
		var wins int
		var mu sync.Mutex
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				g := f
				g.Version, g.Attempts = round, w
				err := s.SaveFlow(ctx, g)
				if err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				} else if !errors.Is(err, recovery.ErrConflict) {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("round %d: %d writers won, want exactly 1", round, wins)
		}
	}
}

func TestHitCountsEveryHitOnce(t *testing.T) {
	ctx := context.Background()
	s := storetest.New(t)
	exp := time.Now().Add(time.Hour)
	const n = 40
	got := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.Hit(ctx, "ip:1.2.3.4", exp)
			if err != nil {
				t.Error(err)
			}
			got <- c
		}()
	}
	wg.Wait()
	close(got)
	var ranks []int
	for c := range got {
		ranks = append(ranks, c)
	}
	slices.Sort(ranks)
	for i, r := range ranks {
		if r != i+1 {
			t.Fatalf("ranks %v: concurrent hits shared or skipped a count", ranks)
		}
	}
	if c, _ := s.Hit(ctx, "ip:5.6.7.8", exp); c != 1 {
		t.Errorf("another key starts at %d", c)
	}
}
