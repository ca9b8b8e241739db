import torch

from musicgen.training.batches import bucketed_order


def test_bucketed_order_is_a_permutation_of_similar_length_batches():
    lengths = torch.tensor([25, 160, 30, 150, 28, 155, 27, 158])
    order = bucketed_order(lengths, 2, torch.Generator().manual_seed(0))
    assert sorted(order.tolist()) == list(range(8))
    batches = order.view(4, 2)
    # Each batch pairs two short or two long sequences: padding stays small.
    spans = [int(lengths[b].max() - lengths[b].min()) for b in batches]
    assert max(spans) <= 10, spans
    again = bucketed_order(lengths, 2, torch.Generator().manual_seed(0))
    assert torch.equal(order, again)
    other = [bucketed_order(lengths, 2, torch.Generator().manual_seed(s)).tolist() for s in range(1, 6)]
    assert any(o != order.tolist() for o in other)  # batch order changes with the seed
