package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// TestInsertsShareACommand: inserts waiting together go out as one
// command, and each caller gets the outcome of its own document — the
// duplicates of an _id already taken, or taken earlier in the same
// command, are refused as InsertOne would refuse them, the others stored.
// The requests are queued before the collection's sender starts, so the
// grouping does not depend on timing.
func TestInsertsShareACommand(t *testing.T) {
	s := openEmbeddedTest(t)
	ctx := context.Background()
	var mu sync.Mutex
	var commands []Command
	stop := s.Observe(func(c Command) { mu.Lock(); commands = append(commands, c); mu.Unlock() })
	defer stop()

	b := newInserts(s.wdb, writeTimeout)
	defer b.close()
	q := make(chan *insertReq, 1024)
	b.cols["grouped"] = q
	ids := []string{"a", "taken", "b", "a", "c"}
	var reqs []*insertReq
	for _, id := range ids {
		r := &insertReq{doc: bson.D{{Key: "_id", Value: id}}, done: make(chan struct{})}
		reqs = append(reqs, r)
		q <- r
	}
	// "taken" must exist in this collection too.
	if _, err := s.wdb.Collection("grouped").InsertOne(ctx, bson.D{{Key: "_id", Value: "taken"}}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	commands = nil
	mu.Unlock()
	b.wg.Add(1)
	go b.run("grouped", q)
	for i, r := range reqs {
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("insert %d (%s) never answered", i, ids[i])
		}
	}
	wantDup := []bool{false, true, false, true, false}
	for i, r := range reqs {
		if got := mongo.IsDuplicateKeyError(r.err); got != wantDup[i] || !got && r.err != nil {
			t.Errorf("insert %d (%s): err = %v; want duplicate: %v", i, ids[i], r.err, wantDup[i])
		}
	}
	n, err := s.wdb.Collection("grouped").CountDocuments(ctx, bson.D{})
	if err != nil || n != 4 {
		t.Errorf("%d documents stored (%v); want taken, a, b, c", n, err)
	}
	mu.Lock()
	defer mu.Unlock()
	var inserts []string
	for _, c := range commands {
		if c.Name == "insert" {
			inserts = append(inserts, fmt.Sprintf("%s×%d", c.Collection, c.Docs))
		}
	}
	if len(inserts) != 1 || inserts[0] != "grouped×5" {
		t.Errorf("insert commands %v; want one of the 5 documents", inserts)
	}
}

// TestInsertsClose: closing fails what is still queued at once, not at
// its caller's timeout; inserts after it fail at once; closing twice is
// harmless.
func TestInsertsClose(t *testing.T) {
	s := openEmbeddedTest(t)
	b := newInserts(s.wdb, time.Minute)
	// Queued before the collection's goroutine could take them: they wait
	// in the channel when close comes.
	q := b.queue("audit")
	reqs := make([]*insertReq, 3)
	for i := range reqs {
		reqs[i] = &insertReq{doc: map[string]any{"_id": fmt.Sprintf("close-%d", i)}, done: make(chan struct{})}
		q <- reqs[i]
	}
	start := time.Now()
	b.close()
	for i, r := range reqs {
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("request %d still waits after close", i)
		}
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("close took %v", time.Since(start))
	}
	if err := b.insert(context.Background(), "audit", map[string]any{"_id": "after"}); !errors.Is(err, errClosed) {
		t.Errorf("insert after close: %v, want errClosed", err)
	}
	b.close()
}

// TestUnreserveGivesBackAFailedRank: a rank whose claim failed is the next
// one tried, unless a later rank was reserved meanwhile.
func TestUnreserveGivesBackAFailedRank(t *testing.T) {
	var s Store
	if n, _ := s.reserve("k", 1); n != 1 {
		t.Fatalf("first rank %d", n)
	}
	n, _ := s.reserve("k", 0)
	s.unreserve("k", n)
	if again, _ := s.reserve("k", 0); again != n {
		t.Errorf("after giving rank %d back, the next is %d", n, again)
	}
	later, _ := s.reserve("k", 0)
	s.unreserve("k", n)
	if next, _ := s.reserve("k", 0); next != later+1 {
		t.Errorf("an old rank given back moved the next to %d, want %d", next, later+1)
	}
}
