import torch

from training import losses
from training.trainer import ema_decay, update_ema


def test_class_weights_follow_the_formula() -> None:
    # 2 images of 2x2: class 0 x4, class 1 x3, class 2 x1; classes present: 3; B*H*W = 8
    labels = torch.tensor([[[0, 0], [1, 2]], [[0, 1], [0, 1]]])
    w = losses.class_weights(labels, label_nc=4, dont_care_id=None)
    expected = {0: 8 / (4 * 3), 1: 8 / (3 * 3), 2: 8 / (1 * 3)}
    for c, v in expected.items():
        assert torch.allclose(w[labels == c], torch.tensor(v))


def test_dont_care_gets_weight_zero_and_is_not_counted() -> None:
    labels = torch.tensor([[[0, 0], [1, 3]]])  # 3 = don't-care
    w = losses.class_weights(labels, label_nc=4, dont_care_id=3)
    assert w[0, 1, 1] == 0
    assert torch.allclose(w[labels == 0], torch.tensor(4 / (2 * 2)))  # 2 classes present (3 excluded)
    unbalanced = losses.class_weights(labels, label_nc=4, dont_care_id=3, balance=False)
    assert unbalanced.tolist() == [[[1.0, 1.0], [1.0, 0.0]]]


def test_real_and_fake_losses_use_the_n_plus_1_channels() -> None:
    labels = torch.tensor([[[0, 1]]])
    logits = torch.full((1, 3, 1, 2), -10.0)
    logits[0, 1, 0, 0] = logits[0, 2, 0, 1] = 10.0  # channel k+1 = class k, confidently right
    w = torch.ones(1, 1, 2)
    assert losses.real_loss(logits, labels, w) < 1e-6
    assert losses.fake_loss(logits) > 10  # says "real" where the target is "fake" (channel 0)
    fake_logits = torch.zeros(1, 3, 1, 2)
    fake_logits[:, 0] = 10.0
    assert losses.fake_loss(fake_logits) < 1e-3


def test_labelmix_mask_follows_classes_and_differs_between_samples() -> None:
    labels = torch.zeros(16, 8, 8, dtype=torch.long)
    labels[:, :, 4:] = 1
    labels[:, 6:, :] = 2
    mask = losses.labelmix_mask(labels, 3, torch.Generator().manual_seed(0))
    assert mask.shape == (16, 1, 8, 8)
    for i in range(16):  # constant within each class region
        for c in range(3):
            vals = mask[i, 0][labels[i] == c]
            assert (vals == vals[0]).all()
    assert len({tuple(mask[i, 0, [0, 0, 7], [0, 7, 0]].tolist()) for i in range(16)}) > 1  # per-sample flips


def test_labelmix_loss_is_zero_for_a_consistent_discriminator() -> None:
    mask = torch.zeros(1, 1, 2, 2)
    mask[..., 0] = 1
    real, fake = torch.randn(1, 3, 2, 2), torch.randn(1, 3, 2, 2)
    assert losses.labelmix_loss(mask, mask * real + (1 - mask) * fake, real, fake) == 0
    assert losses.labelmix_loss(mask, fake, real, fake) > 0


def test_discriminator_losses_split_the_batch_of_fake_real_and_mixed() -> None:
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (2, 4, 4), generator=g)
    weights = losses.class_weights(labels, 3, None)
    mask = losses.labelmix_mask(labels, 3, g)
    out = torch.randn(6, 4, 4, 4, generator=g, requires_grad=True)
    d_fake, d_real, d_mixed = out[:2], out[2:4], out[4:]
    want = (
        losses.fake_loss(d_fake),
        losses.real_loss(d_real, labels, weights),
        losses.labelmix_loss(mask, d_mixed, d_real, d_fake),
    )
    got = losses.discriminator_losses(out, labels, weights, mask)
    assert all(torch.equal(a, b) for a, b in zip(want, got))
    no_mix = losses.discriminator_losses(out[:4].bfloat16(), labels, weights, None)[2]  # no LabelMix: no mixed third
    assert no_mix == 0 and no_mix.dtype == torch.float32
    assert torch.equal(*(torch.autograd.grad(sum(t), out)[0] for t in (want, got)))


def test_cutmix_mask_is_one_rectangle() -> None:
    mask = losses.cutmix_mask(torch.zeros(4, 16, 16, dtype=torch.long), torch.Generator().manual_seed(1))
    for m in mask[:, 0]:
        ys, xs = torch.nonzero(m, as_tuple=True)
        if len(ys):
            assert m[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].all()


def test_ema_math() -> None:
    ema, model = torch.nn.BatchNorm2d(2), torch.nn.BatchNorm2d(2)
    with torch.no_grad():
        ema.weight.fill_(1.0)
        model.weight.fill_(3.0)
        model.running_mean.fill_(5.0)
    update_ema(ema, model, decay=0.75)
    assert torch.allclose(ema.weight, torch.tensor(1.0 * 0.75 + 3.0 * 0.25))
    assert torch.equal(ema.running_mean, model.running_mean)  # buffers follow the model


def test_ema_warmup_follows_the_model_early_then_the_configured_decay() -> None:
    assert ema_decay(0.999, 0, warmup=False) == 0.999
    assert [ema_decay(0.999, t, warmup=True) for t in (0, 90, 100_000)] == [0.1, 0.91, 0.999]


def test_diff_augment_shares_each_samples_transform_and_moves_targets_with_translation() -> None:
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (3, 16, 24))
    palette = torch.tensor([[-1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]])
    image = palette[labels].permute(0, 3, 1, 2)  # each class its own colour
    (a, b), moved, _, valid = losses.diff_augment([image, image.clone()], labels, None, ("translation",), g)
    assert torch.equal(a, b)
    inside = valid.bool()
    assert (~inside).any() and torch.equal(a.permute(0, 2, 3, 1)[inside], palette[moved][inside])
    assert (a.permute(0, 2, 3, 1)[~inside] == 0).all()  # shifted in from outside: zero, and no target


def test_diff_augment_colour_changes_images_not_targets() -> None:
    g = torch.Generator().manual_seed(1)
    labels = torch.randint(0, 4, (4, 8, 8))
    image = torch.rand(4, 3, 8, 8) * 2 - 1
    (a, b), same, _, valid = losses.diff_augment([image, image.clone()], labels, None, ("color",), g)
    assert torch.equal(a, b) and torch.equal(same, labels) and bool(valid.all())
    assert not torch.allclose(a, image)
    assert "color" in losses.DIFFAUG_POLICIES


def test_mode_seeking_loss_falls_as_variations_differ_and_pushes_them_apart() -> None:
    torch.manual_seed(0)
    za, zb = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    a = torch.rand(2, 3, 8, 8) * 2 - 1
    near = (a + 0.01 * torch.randn_like(a)).requires_grad_(True)
    loss_near, ratio_near = losses.mode_seeking_loss(a, near, za, zb)
    loss_far, ratio_far = losses.mode_seeking_loss(a, a.flip(0), za, zb)
    assert ratio_near < ratio_far and loss_near > loss_far  # collapsed variations cost more
    d_z = (za - zb).abs().flatten(1).mean(1)
    expected = (a - near).abs().flatten(1).mean(1) / d_z
    assert torch.allclose(ratio_near, expected.mean()) and torch.allclose(loss_near, (1 / (expected + 1e-5)).mean())
    loss_near.backward()
    assert near.grad is not None
    with torch.no_grad():  # a small step down the gradient moves the second variation away from the first
        stepped = near - 1e-4 * near.grad / near.grad.abs().max()
    assert (stepped - a).abs().mean() > (near - a).abs().mean()


def test_bounded_mode_seeking_pushes_only_pairs_below_the_target() -> None:
    torch.manual_seed(0)
    za, zb = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    a = torch.rand(2, 3, 8, 8) * 2 - 1
    # Pair 0 nearly collapsed, pair 1 far apart: only pair 0 is below the target.
    b = torch.stack([a[0] + 0.01 * torch.randn_like(a[0]), -a[1]]).requires_grad_(True)
    ratio = (a - b).detach().abs().flatten(1).mean(1) / (za - zb).abs().flatten(1).mean(1)
    target = float(ratio.mean())
    assert ratio[0] < target < ratio[1]
    loss, mean_ratio = losses.mode_seeking_loss(a, b, za, zb, target=target)
    assert torch.allclose(mean_ratio, ratio.mean())
    assert torch.allclose(loss, (target - ratio[0]) / 2)  # pair 1 adds nothing
    loss.backward()
    assert b.grad is not None
    assert b.grad[1].abs().max() == 0 and b.grad[0].abs().max() > 0
    with torch.no_grad():
        stepped = b[0] - 1e-3 * b.grad[0] / b.grad[0].abs().max()
    assert (stepped - a[0]).abs().mean() > (b[0] - a[0]).abs().mean()
    # Beyond the target for every pair: no loss, no push (MSGAN's 1 / ratio would still push).
    assert losses.mode_seeking_loss(a, b, za, zb, target=float(ratio.min()) / 2)[0] == 0
