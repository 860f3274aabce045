package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sesame-edu/sesame/server/audit"
)

const colAudit = "audit"

// auditRetention is how long audit records are kept: a school year and a
// bit, long enough to investigate an incident reported late, short enough
// not to become a register of people's habits.
const auditRetention = 400 * 24 * time.Hour

func auditIndexes() []index {
	return []index{
		{colAudit, mongo.IndexModel{Keys: bson.D{{Key: "expiresAt", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(0)}},
		{colAudit, mongo.IndexModel{Keys: bson.D{{Key: "accountId", Value: 1}, {Key: "at", Value: -1}}}},
	}
}

// Record appends an audit event.
func (s Audit) Record(ctx context.Context, e audit.Event) error {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	err := s.insertOne(ctx, colAudit, bson.D{
		{Key: "_id", Value: hex.EncodeToString(b)},
		{Key: "at", Value: e.At},
		{Key: "action", Value: e.Action},
		{Key: "accountId", Value: e.AccountID},
		{Key: "ip", Value: e.IP},
		{Key: "outcome", Value: e.Outcome},
		{Key: "flow", Value: e.Flow},
		{Key: "actor", Value: e.Actor},
		{Key: "client", Value: e.Client},
		{Key: "expiresAt", Value: e.At.Add(auditRetention)},
	})
	if err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

// SweepAudit deletes audit records past their retention.
func (s *Store) SweepAudit(ctx context.Context, now time.Time) (int, error) {
	return s.sweep(ctx, colAudit, "expiresAt", now)
}
