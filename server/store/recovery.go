package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sesame-edu/sesame/server/recovery"
)

const colRecovery = "recovery_flows"

// flowDoc is a recovery flow as stored. A finished flow keeps only what
// tells another device it is over, until it expires; the collection stays small even on the embedded server,
// which scans it for the dispatcher's pending query.
type flowDoc struct {
	ID            string    `bson:"_id"`
	BrowserHash   string    `bson:"browserHash"`
	VerifiedBy    string    `bson:"verifiedBy,omitempty"`
	Kind          string    `bson:"kind"`
	Population    string    `bson:"population"`
	Lang          string    `bson:"lang"`
	State         string    `bson:"state"`
	Version       int       `bson:"version"`
	CreatedAt     time.Time `bson:"createdAt"`
	UpdatedAt     time.Time `bson:"updatedAt"`
	ExpiresAt     time.Time `bson:"expiresAt"`
	IP            string    `bson:"ip,omitempty"`
	Request       string    `bson:"request,omitempty"`
	RequestKey    string    `bson:"requestKey"`
	Pending       bool      `bson:"pending"`
	Accounts      []string  `bson:"accounts"`
	CodeHash      string    `bson:"codeHash,omitempty"`
	CodeSentAt    time.Time `bson:"codeSentAt"`
	CodeExpiresAt time.Time `bson:"codeExpiresAt"`
	Replaced      []string  `bson:"replaced,omitempty"`
	Attempts      int       `bson:"attempts"`
	Chosen        string    `bson:"chosen,omitempty"`
	ConsentAt     time.Time `bson:"consentAt"`
	Device        string    `bson:"device,omitempty"`
}

func recoveryIndexes() []index {
	return []index{
		{colRecovery, mongo.IndexModel{Keys: bson.D{{Key: "expiresAt", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(0)}},
		{colRecovery, mongo.IndexModel{Keys: bson.D{{Key: "pending", Value: 1}, {Key: "updatedAt", Value: 1}}}},
	}
}

func toFlowDoc(f recovery.Flow) flowDoc {
	return flowDoc{
		ID: f.ID, BrowserHash: f.BrowserHash, VerifiedBy: f.VerifiedBy, Kind: string(f.Kind), Population: f.Population, Lang: f.Lang,
		State: string(f.State), Version: f.Version, CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt, ExpiresAt: f.ExpiresAt,
		IP: f.IP, Request: f.Request, RequestKey: f.RequestKey, Pending: f.Pending, Accounts: f.Accounts,
		CodeHash: f.CodeHash, CodeSentAt: f.CodeSentAt, CodeExpiresAt: f.CodeExpiresAt, Replaced: f.Replaced, Attempts: f.Attempts,
		Chosen: f.Chosen, ConsentAt: f.ConsentAt, Device: string(f.Device),
	}
}

func (d flowDoc) flow() recovery.Flow {
	return recovery.Flow{
		ID: d.ID, BrowserHash: d.BrowserHash, VerifiedBy: d.VerifiedBy, Kind: recovery.Kind(d.Kind), Population: d.Population, Lang: d.Lang,
		State: recovery.State(d.State), Version: d.Version, CreatedAt: utc(d.CreatedAt), UpdatedAt: utc(d.UpdatedAt), ExpiresAt: utc(d.ExpiresAt),
		IP: d.IP, Request: d.Request, RequestKey: d.RequestKey, Pending: d.Pending, Accounts: d.Accounts,
		CodeHash: d.CodeHash, CodeSentAt: utc(d.CodeSentAt), CodeExpiresAt: utc(d.CodeExpiresAt), Replaced: d.Replaced, Attempts: d.Attempts,
		Chosen: d.Chosen, ConsentAt: utc(d.ConsentAt), Device: recovery.Device(d.Device),
	}
}

// CreateFlow inserts a new flow.
func (s Flows) CreateFlow(ctx context.Context, f recovery.Flow) error {
	if err := s.insertOne(ctx, colRecovery, toFlowDoc(f)); err != nil {
		return fmt.Errorf("store: create flow: %w", err)
	}
	return nil
}

// GetFlow reads a live flow by id. An expired flow is as good as gone, even
// before the TTL index or the sweeper deletes it.
func (s Flows) GetFlow(ctx context.Context, id string) (recovery.Flow, error) {
	var d flowDoc
	err := s.db.Collection(colRecovery).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return recovery.Flow{}, recovery.ErrNotFound
	}
	if err != nil {
		return recovery.Flow{}, fmt.Errorf("store: get flow: %w", err)
	}
	if !d.ExpiresAt.After(s.now()) {
		return recovery.Flow{}, recovery.ErrNotFound
	}
	return d.flow(), nil
}

// SaveFlow replaces the flow only if nobody wrote it since it was read.
// The writer of version n first claims "flow id#n" (a unique insert, see
// claims.go), so of two writers that read the same version exactly one
// goes on; the filter on the previous version then guards MongoDB too.
func (s Flows) SaveFlow(ctx context.Context, f recovery.Flow) error {
	ok, err := s.claim(ctx, fmt.Sprintf("flow|%s#%d", f.ID, f.Version), f.ExpiresAt)
	if err != nil {
		return err
	}
	if !ok {
		return recovery.ErrConflict
	}
	// Filtered by _id alone: the claim above already makes this writer
	// the only one for this version, and the embedded server only uses its
	// fast path for an exact _id filter.
	res, err := s.wdb.Collection(colRecovery).ReplaceOne(ctx,
		bson.D{{Key: "_id", Value: f.ID}}, toFlowDoc(f))
	if err != nil {
		return fmt.Errorf("store: save flow: %w", err)
	}
	if res.MatchedCount == 0 {
		return recovery.ErrConflict
	}
	return nil
}

// DeleteFlow removes a flow; deleting a missing one is not an error.
func (s Flows) DeleteFlow(ctx context.Context, id string) error {
	if _, err := s.wdb.Collection(colRecovery).DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return fmt.Errorf("store: delete flow: %w", err)
	}
	return nil
}

// PendingFlows lists the ids of flows pending since before the given time.
func (s Flows) PendingFlows(ctx context.Context, before time.Time) ([]string, error) {
	cur, err := s.db.Collection(colRecovery).Find(ctx,
		bson.D{{Key: "pending", Value: true}, {Key: "updatedAt", Value: bson.D{{Key: "$lt", Value: before}}}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}).SetLimit(500))
	if err != nil {
		return nil, fmt.Errorf("store: pending flows: %w", err)
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("store: pending flows: %w", err)
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	return ids, nil
}

// SweepFlows deletes expired flows; the embedded server has no TTL index.
func (s *Store) SweepFlows(ctx context.Context, now time.Time) (int, error) {
	return s.sweep(ctx, colRecovery, "expiresAt", now)
}

// sweep deletes the documents of col whose field is at or before now.
func (s *Store) sweep(ctx context.Context, col, field string, now time.Time) (int, error) {
	res, err := s.wdb.Collection(col).DeleteMany(ctx, bson.D{{Key: field, Value: bson.D{{Key: "$lte", Value: now}}}})
	if err != nil {
		return 0, fmt.Errorf("store: sweep %s: %w", col, err)
	}
	return int(res.DeletedCount), nil
}

// SaveCodeAttempt records a try at the code: the versioned write of
// SaveFlow, named for the step it serves (recovery.Service.SubmitCode).
func (s Flows) SaveCodeAttempt(ctx context.Context, f recovery.Flow) error {
	return s.SaveFlow(ctx, f)
}
