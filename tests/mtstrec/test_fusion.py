import torch

from mtstrec.fusion import fusion_mask, fusion_structure

# L = 3 history positions plus the CLOZE: S = 4. Rows are queries, columns keys,
# ordered [x0 x1 x2 cloze | T0 T1 T2 T3]; 1 = may attend.
FIRST_FUSION = [
    [1, 1, 1, 1, 0, 0, 0, 0],
    [1, 1, 1, 1, 0, 0, 0, 0],
    [1, 1, 1, 1, 0, 0, 0, 0],
    [1, 1, 1, 1, 0, 0, 0, 0],
    [1, 0, 0, 0, 1, 0, 0, 0],
    [0, 1, 0, 0, 0, 1, 0, 0],
    [0, 0, 1, 0, 0, 0, 1, 0],
    [0, 0, 0, 1, 0, 0, 0, 1],
]
LATER_FUSION = [
    [1, 1, 1, 1, 1, 0, 0, 0],
    [1, 1, 1, 1, 0, 1, 0, 0],
    [1, 1, 1, 1, 0, 0, 1, 0],
    [1, 1, 1, 1, 0, 0, 0, 1],
    [1, 0, 0, 0, 1, 0, 0, 0],
    [0, 1, 0, 0, 0, 1, 0, 0],
    [0, 0, 1, 0, 0, 0, 1, 0],
    [0, 0, 0, 1, 0, 0, 0, 1],
]


def test_first_fusion_layer_mask_matches_design_entry_by_entry():
    assert fusion_structure(4, first=True).int().tolist() == FIRST_FUSION


def test_later_fusion_layer_mask_matches_design_entry_by_entry():
    assert fusion_structure(4, first=False).int().tolist() == LATER_FUSION


def test_padded_positions_are_hidden_as_keys_but_shared_tokens_never_are():
    valid = torch.tensor([[False, True, True, True]])  # x0 is padding
    mask = fusion_mask(valid, first=False)[0, 0].int()
    expected = torch.tensor(LATER_FUSION)
    expected[:, 0] = 0
    assert mask.tolist() == expected.tolist()
    assert mask.sum(dim=1).min() >= 1  # every query keeps at least one key
