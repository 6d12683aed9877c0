package bench

import (
	"context"

	"github.com/shmx/shmx/memfile"
	"github.com/shmx/shmx/shm"
)

// hugeBulkRows: the bulk Ring row read in place again, with the whole
// memfile (so the Ring's slots) on huge pages (shm.WithHugePages), which
// cut the TLB misses of walking 4 MiB of slots in 4 KiB pages to a few
// 2 MiB entries. Only the Ring is on huge pages: the sender's source and
// the windows are the same ordinary heap memory as in the other rows.
// Where the OS or machine offers no huge pages (another OS, none
// reserved, no hugetlbfs mounted, the pool used up) the row is skipped
// with the reason.
func (e *env) hugeBulkRows() []row {
	g := "bulk transfer " + sizeName(e.Bulk)
	name := "memfile Ring, " + sizeName(bulkSlot) + " slots, read in place, huge-page segment"
	return []row{
		{g, name, true, "", func(ctx context.Context) (Result, error) { return e.bulkRing(ctx, "sink-ring-inplace", true) }},
	}
}

// noHuge starts the reason a huge-page row is skipped.
const noHuge = "no huge-page memfile here: "

// segmentOptions are the memfile options of a row's memfile: huge pages
// or none.
func segmentOptions(huge bool) []memfile.Option {
	if !huge {
		return nil
	}
	return []memfile.Option{memfile.WithSegmentOptions(shm.WithHugePages())}
}
