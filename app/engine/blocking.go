package engine

import (
	"context"
	"math/bits"
	"sync/atomic"
)

// blockRows is the number of rows of a a worker takes at a time when blocking.
const blockRows = 64

// compareBlocked compares only rows sharing a block. Each row of a gathers the
// rows of b in its blocks (each once, via a stamp per row of b) and scores
// those within its popcount bounds.
func compareBlocked(ctx context.Context, a, b *CLKs, th *threshold, opt *Options, p *progress) ([]Candidate, error) {
	ids := make(map[string]int32)
	var members [][]int32 // block → rows of b
	for j, blocks := range opt.BlocksB {
		for _, id := range blocks {
			bid, ok := ids[id]
			if !ok {
				bid = int32(len(members))
				ids[id] = bid
				members = append(members, nil)
			}
			if m := members[bid]; len(m) == 0 || m[len(m)-1] != int32(j) { // a row listing a block twice
				members[bid] = append(m, int32(j))
			}
		}
	}
	maxPop := b.Size() * 8
	rows := sampledRows(a, opt.Stride)
	chunks := (len(rows) + blockRows - 1) / blockRows
	var next atomic.Int64
	work := func(s *scratch) error {
		stamp := make([]int32, b.Len()) // row of b → last row of a (+1) that gathered it
		var near []int32
		for {
			c := int(next.Add(1) - 1)
			if c >= chunks {
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			chunk := rows[c*blockRows : min((c+1)*blockRows, len(rows))]
			before := s.held()
			var compared int64
			for _, r := range chunk {
				i := int(r)
				pa := a.pops[i]
				plo, phi := th.popRange(int(pa), maxPop)
				near = near[:0]
				for _, id := range opt.BlocksA[i] {
					bid, ok := ids[id]
					if !ok {
						continue
					}
					for _, j := range members[bid] {
						if stamp[j] != int32(i)+1 {
							stamp[j] = int32(i) + 1
							compared++
							if pb := int(b.pops[j]); pb >= plo && pb <= phi {
								near = append(near, j)
							}
						}
					}
				}
				hits := s.hits[0][:0]
				q := a.row(i)
				for _, j := range near {
					var cnt int
					for k, w := range b.row(int(j)) {
						cnt += bits.OnesCount64(w & q[k])
					}
					if uint32(cnt) >= th.minCount[pa+b.pops[j]] {
						hits = append(hits, Candidate{
							Score: score(uint32(cnt), pa+b.pops[j]),
							A:     Record{Party: int32(opt.PartyA), Row: int32(a.offset + i)},
							B:     Record{Party: int32(opt.PartyB), Row: int32(b.offset) + j},
						})
					}
				}
				s.hits[0] = hits
				s.appendTopK(hits, opt.TopK)
			}
			if err := opt.budget.take(s.held() - before); err != nil {
				return err
			}
			if opt.tally != nil {
				opt.tally.compared.Add(compared)
			}
			p.add(int64(len(chunk)) * int64(b.Len()))
		}
	}
	return runWorkers(opt.Workers, chunks, func() *scratch { return newScratch(opt, 1) }, work)
}
