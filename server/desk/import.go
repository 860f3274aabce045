package desk

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/sesame-edu/sesame/server/account"
)

// Importer writes an accounts file (account.Importer implements it).
type Importer interface {
	CheckGuardians(ctx context.Context, rows []account.ImportRow) ([]account.RowError, error)
	Import(ctx context.Context, rows []account.ImportRow) (account.ImportSummary, error)
}

// importOptions are the console's: rows without a password become pending
// accounts whose letters the admin prints for the import.
var importOptions = account.ParseOptions{GeneratePasswords: true}

// CheckImport reads an accounts file as the command line does and returns
// how many rows it holds and every bad row, with its line and reason,
// sorted by line. Nothing is written. Only admins import.
func (s *Service) CheckImport(ctx context.Context, agent account.Account, data []byte) (int, []account.RowError, error) {
	if s.Agent(agent) != Admin {
		return 0, nil, ErrNotFound
	}
	rows, bad, err := s.checkImport(ctx, data)
	return len(rows), bad, err
}

func (s *Service) checkImport(ctx context.Context, data []byte) ([]account.ImportRow, []account.RowError, error) {
	rows, bad, err := account.ParseCSVWith(bytes.NewReader(data), s.Known, importOptions)
	if err != nil {
		return nil, nil, fmt.Errorf("desk: import: %w", err)
	}
	// Every bad row at once, the guardians' too, as on the command line.
	unknown, err := s.Importer.CheckGuardians(ctx, rows)
	if err != nil {
		return nil, nil, fmt.Errorf("desk: import: %w", err)
	}
	bad = append(bad, unknown...)
	slices.SortStableFunc(bad, func(a, b account.RowError) int { return a.Line - b.Line })
	return rows, bad, nil
}

// Import checks the file again (the store may have changed since the
// admin saw it) and, only if no row is bad, imports it. The import is
// audited on the admin's account with its counts.
func (s *Service) Import(ctx context.Context, agent account.Account, data []byte, ip string) (account.ImportSummary, []account.RowError, error) {
	if s.Agent(agent) != Admin {
		return account.ImportSummary{}, nil, ErrNotFound
	}
	rows, bad, err := s.checkImport(ctx, data)
	if err != nil || len(bad) > 0 {
		return account.ImportSummary{}, bad, err
	}
	sum, err := s.Importer.Import(ctx, rows)
	s.record(ctx, ActionImport, agent, agent.ID, ip, fmt.Sprintf("created=%d updated=%d unchanged=%d", sum.Created, sum.Updated, sum.Unchanged))
	if err != nil {
		return sum, nil, fmt.Errorf("desk: import: %w", err)
	}
	return sum, nil, nil
}

// ImportedIDs returns the account ids an accounts file names: the
// accounts of one import, whose pending ones get their letters.
func (s *Service) ImportedIDs(data []byte) []string {
	rows, _, err := account.ParseCSVWith(bytes.NewReader(data), s.Known, importOptions)
	if err != nil {
		return nil
	}
	ids := make([]string, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, account.NormaliseIdentifier(r.Identifier))
	}
	return ids
}
