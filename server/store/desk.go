package store

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/audit"
	"github.com/sesame-edu/sesame/server/desk"
	"github.com/sesame-edu/sesame/server/ratelimit"
)

// What the office console reads. None of it is on a hot path: a search is
// made when an agent submits one, never on each keystroke.

// searchFields are what a search matches on: the rest of an account is
// not read while scanning.
var searchFields = bson.D{{Key: "identifier", Value: 1}, {Key: "firstName", Value: 1}, {Key: "lastName", Value: 1}, {Key: "email", Value: 1}}

// SearchAccounts scans the accounts' identifiers, names and addresses,
// and returns the whole accounts of the first limit that match, ordered by
// identifier. The embedded server reads every document for any filter
// but _id (see the README), so no filter is pushed down; the projection
// keeps the decoding small.
func (s Accounts) SearchAccounts(ctx context.Context, match func(account.Account) bool, limit int) ([]account.Account, error) {
	cur, err := s.db.Collection(colAccounts).Find(ctx, bson.D{}, options.Find().SetProjection(searchFields))
	if err != nil {
		return nil, fmt.Errorf("store: search accounts: %w", err)
	}
	defer cur.Close(ctx)
	var hits []string
	for cur.Next(ctx) {
		var d accountDoc
		if err := cur.Decode(&d); err != nil {
			return nil, fmt.Errorf("store: search accounts: %w", err)
		}
		if match(d.account()) {
			hits = append(hits, d.ID)
		}
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("store: search accounts: %w", err)
	}
	slices.Sort(hits)
	if len(hits) > limit {
		hits = hits[:limit]
	}
	out := make([]account.Account, 0, len(hits))
	for _, id := range hits {
		a, err := s.GetAccount(ctx, id)
		if err != nil {
			continue // deleted meanwhile
		}
		out = append(out, a)
	}
	return out, nil
}

// PendingAccounts returns the pending accounts of a population, ordered
// by identifier.
func (s Accounts) PendingAccounts(ctx context.Context, population string) ([]account.Account, error) {
	cur, err := s.db.Collection(colAccounts).Find(ctx, bson.D{
		{Key: "status", Value: string(account.StatusPending)}, {Key: "population", Value: population},
	})
	if err != nil {
		return nil, fmt.Errorf("store: pending accounts: %w", err)
	}
	var docs []accountDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("store: pending accounts: %w", err)
	}
	out := make([]account.Account, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.account())
	}
	sortAccounts(out)
	return out, nil
}

// AuditOf returns the audit events about an account since a moment,
// newest first.
func (s Audit) AuditOf(ctx context.Context, accountID string, since time.Time) ([]audit.Event, error) {
	cur, err := s.db.Collection(colAudit).Find(ctx, bson.D{
		{Key: "accountId", Value: accountID}, {Key: "at", Value: bson.D{{Key: "$gte", Value: since}}},
	}, options.Find().SetSort(bson.D{{Key: "at", Value: -1}}).SetLimit(500))
	if err != nil {
		return nil, fmt.Errorf("store: audit of: %w", err)
	}
	var docs []struct {
		At        time.Time `bson:"at"`
		Action    string    `bson:"action"`
		AccountID string    `bson:"accountId"`
		IP        string    `bson:"ip"`
		Outcome   string    `bson:"outcome"`
		Flow      string    `bson:"flow"`
		Actor     string    `bson:"actor"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("store: audit of: %w", err)
	}
	out := make([]audit.Event, 0, len(docs))
	for _, d := range docs {
		out = append(out, audit.Event{At: d.At.UTC(), Action: d.Action, AccountID: d.AccountID, IP: d.IP, Outcome: d.Outcome, Flow: d.Flow, Actor: d.Actor})
	}
	// Events of one millisecond keep the order they were written in.
	slices.SortStableFunc(out, func(a, b audit.Event) int { return b.At.Compare(a.At) })
	return out, nil
}

// MailsOf returns what became of an account's mails since a moment.
func (s Outbox) MailsOf(ctx context.Context, accountID string, since time.Time) ([]desk.MailOutcome, error) {
	type trace struct {
		Kind      string    `bson:"kind"`
		Status    string    `bson:"status"`
		CreatedAt time.Time `bson:"createdAt"`
	}
	var docs []trace
	// Waiting mails are in the outbox, done ones in its log.
	for _, col := range []string{colOutbox, colOutboxLog} {
		cur, err := s.db.Collection(col).Find(ctx, bson.D{
			{Key: "accountId", Value: accountID}, {Key: "createdAt", Value: bson.D{{Key: "$gte", Value: since}}},
		}, options.Find().SetProjection(bson.D{{Key: "kind", Value: 1}, {Key: "status", Value: 1}, {Key: "createdAt", Value: 1}}))
		if err != nil {
			return nil, fmt.Errorf("store: mails of: %w", err)
		}
		var some []trace
		if err := cur.All(ctx, &some); err != nil {
			return nil, fmt.Errorf("store: mails of: %w", err)
		}
		docs = append(docs, some...)
	}
	out := make([]desk.MailOutcome, 0, len(docs))
	for _, d := range docs {
		out = append(out, desk.MailOutcome{Kind: d.Kind, Status: d.Status, At: d.CreatedAt.UTC()})
	}
	slices.SortFunc(out, func(a, b desk.MailOutcome) int { return b.At.Compare(a.At) })
	return out, nil
}

// BlockedKeys returns the throttled keys base and base|… whose block
// lasts beyond now.
func (s Limits) BlockedKeys(ctx context.Context, base string, now time.Time) ([]ratelimit.Blocked, error) {
	cur, err := s.db.Collection(colThrottle).Find(ctx, bson.D{
		{Key: "_id", Value: bson.D{{Key: "$regex", Value: "^" + regexp.QuoteMeta(base) + `(\|.*)?$`}}},
		{Key: "blockedUntil", Value: bson.D{{Key: "$gt", Value: now}}},
	})
	if err != nil {
		return nil, fmt.Errorf("store: blocked keys: %w", err)
	}
	var docs []struct {
		ID           string    `bson:"_id"`
		BlockedUntil time.Time `bson:"blockedUntil"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("store: blocked keys: %w", err)
	}
	var out []ratelimit.Blocked
	for _, d := range docs {
		if d.ID == base || strings.HasPrefix(d.ID, base+"|") {
			out = append(out, ratelimit.Blocked{Key: d.ID, Until: d.BlockedUntil.UTC()})
		}
	}
	slices.SortFunc(out, func(a, b ratelimit.Blocked) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}
