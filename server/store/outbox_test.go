package store_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sesame-edu/sesame/server/mail"
	"github.com/sesame-edu/sesame/server/store"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// embedded starts one embedded server and returns n stores connected to it
// (as n Sésame processes would be) and a raw handle on its database.
func embedded(t *testing.T, n int) ([]*store.Store, *mongo.Database) {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := store.StartEmbedded(t.TempDir(), false, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	var stores []*store.Store
	for range n {
		s, err := store.Connect(ctx, e.URI(), "sesame_test", log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close(context.Background()) })
		stores = append(stores, s)
	}
	if err := stores[0].EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	raw, err := mongo.Connect(options.Client().ApplyURI(e.URI()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Disconnect(context.Background()) })
	return stores, raw.Database("sesame_test")
}

func message(code string) mail.Message {
	return mail.Message{
		To: "Anne Durand <anne.durand@example.fr>", Subject: "Votre code Sésame",
		Text: "Votre code : " + code, HTML: "<p>Votre code : <b>" + code + "</b></p>",
		Lang: "fr", Kind: "recovery_code", AccountID: "p001",
	}
}

// TestClaimOutboxExclusive runs claimers through separate connections, as
// separate Sésame processes would. FerretDB v1's findAndModify alone lets
// most messages be claimed several times here.
func TestClaimOutboxExclusive(t *testing.T) {
	ctx := context.Background()
	const workers, messages = 4, 60
	stores, _ := embedded(t, workers)
	now := time.Now().UTC()
	ob := mail.NewOutbox(stores[0].Outbox(), testSecret, func() time.Time { return now }, nil)
	for i := range messages {
		if _, err := ob.Enqueue(ctx, message(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	claims := map[string][]string{}
	var wg sync.WaitGroup
	for w, s := range stores {
		wg.Go(func() {
			name := fmt.Sprint("w", w)
			for {
				e, ok, err := s.Outbox().ClaimOutbox(ctx, now, time.Minute, name)
				if err != nil {
					t.Error(err)
					return
				}
				if !ok {
					return
				}
				mu.Lock()
				claims[e.ID] = append(claims[e.ID], name)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claims) != messages {
		t.Errorf("%d messages claimed, want %d", len(claims), messages)
	}
	for id, by := range claims {
		if len(by) != 1 {
			t.Errorf("message %s claimed by %v", id, by)
		}
	}
}

// TestOutboxStoresNoPlaintext reads the stored bytes themselves.
func TestOutboxStoresNoPlaintext(t *testing.T) {
	ctx := context.Background()
	stores, db := embedded(t, 1)
	s := stores[0]
	now := time.Now().UTC()
	m := message("739184")
	id, err := mail.NewOutbox(s.Outbox(), testSecret, func() time.Time { return now }, nil).Enqueue(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	raw := func(col string) bson.Raw {
		t.Helper()
		r, err := db.Collection(col).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := raw("mail_outbox")
	for _, secret := range []string{"739184", "anne.durand", "Durand", "Votre code", "Sésame"} {
		if bytes.Contains(r, []byte(secret)) {
			t.Errorf("the stored document contains %q", secret)
		}
	}
	for _, clear := range []string{"recovery_code", "p001", mail.StatusPending} {
		if !bytes.Contains(r, []byte(clear)) {
			t.Errorf("the stored document lacks %q, which operations need", clear)
		}
	}
	if _, ok, err := s.Outbox().ClaimOutbox(ctx, now, time.Minute, "w"); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if err := s.Outbox().MarkOutboxSent(ctx, id, "w", now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Delivered, the message leaves the outbox for its log, without its
	// sealed content.
	if n, _ := db.Collection("mail_outbox").CountDocuments(ctx, bson.D{{Key: "_id", Value: id}}); n != 0 {
		t.Error("the delivered message is still in the outbox the workers poll")
	}
	if _, err := raw("mail_outbox_log").LookupErr("sealed"); err == nil {
		t.Error("the sealed message is kept after delivery")
	}
}

func TestPurgeOutbox(t *testing.T) {
	ctx := context.Background()
	stores, db := embedded(t, 1)
	s := stores[0]
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	clock := t0
	ob := mail.NewOutbox(s.Outbox(), testSecret, func() time.Time { return clock }, nil)
	ids := map[string]string{}
	for i, name := range []string{"sent", "failed", "pending"} {
		clock = t0.Add(time.Duration(i) * time.Millisecond)
		id, err := ob.Enqueue(ctx, message(name))
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = id
	}
	for _, name := range []string{"sent", "failed"} {
		e, ok, err := s.Outbox().ClaimOutbox(ctx, clock, time.Minute, name)
		if !ok || err != nil || e.ID != ids[name] {
			t.Fatal(e.ID, ok, err)
		}
	}
	if err := s.Outbox().MarkOutboxSent(ctx, ids["sent"], "sent", t0, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Outbox().MarkOutboxFailed(ctx, ids["failed"], "failed", t0, t0.Add(2*time.Hour), "550"); err != nil {
		t.Fatal(err)
	}
	countClaims := func() int64 {
		n, err := db.Collection("mail_outbox_claims").CountDocuments(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := countClaims(); n != 2 {
		t.Fatalf("%d claim records, want 2", n)
	}

	tests := []struct {
		at      time.Duration
		deleted int
		left    []string
	}{
		{59 * time.Minute, 0, []string{"sent", "failed", "pending"}},
		{time.Hour, 1, []string{"failed", "pending"}},
		{2 * time.Hour, 1, []string{"pending"}},
		{29 * 24 * time.Hour, 0, []string{"pending"}},
		// An abandoned message goes too, whatever its status.
		{31 * 24 * time.Hour, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.at.String(), func(t *testing.T) {
			n, err := s.Outbox().PurgeOutbox(ctx, t0.Add(tt.at))
			if err != nil || n != tt.deleted {
				t.Fatalf("PurgeOutbox = %d, %v; want %d", n, err, tt.deleted)
			}
			for name, id := range ids {
				_, ok, err := s.Outbox().GetOutbox(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				want := false
				for _, l := range tt.left {
					want = want || l == name
				}
				if ok != want {
					t.Errorf("%s present = %v, want %v", name, ok, want)
				}
			}
		})
	}
	if n := countClaims(); n != 0 {
		t.Errorf("%d claim records left after their time", n)
	}
}
