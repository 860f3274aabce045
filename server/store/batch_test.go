package store

import (
	"context"
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
