import pytest
import torch
import torch.nn.functional as F

from wellread.distill import distill_loss, soft_cross_entropy


def _reference(student, teacher, temperature):
    """-sum p_t log p_s in float64, written the long way."""
    s, t = student.double() / temperature, teacher.double() / temperature
    p_t = t.exp() / t.exp().sum(-1, keepdim=True)
    log_p_s = s - s.exp().sum(-1, keepdim=True).log()
    return -(p_t * log_p_s).sum(-1).mean() * temperature ** 2


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0, 5.0])
def test_soft_cross_entropy_matches_a_float64_reference(temperature):
    g = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(64, 3, generator=g) * 3, torch.randn(64, 3, generator=g) * 3
    got = soft_cross_entropy(student, teacher, temperature)
    assert torch.allclose(got.double(), _reference(student, teacher, temperature), atol=1e-5)


def test_gradient_is_zero_when_the_student_matches_the_teacher():
    teacher = torch.randn(16, 2, generator=torch.Generator().manual_seed(1))
    student = teacher.clone().requires_grad_(True)
    soft_cross_entropy(student, teacher, 2.0).backward()
    assert student.grad.abs().max() < 1e-6
    # ...and the loss is then the teacher's entropy, its minimum
    other = teacher * torch.tensor([1.0, -1.0])  # a shift would not do: softmax ignores it
    assert soft_cross_entropy(other, teacher) > soft_cross_entropy(teacher, teacher)


def test_hard_labels_only_where_they_exist():
    g = torch.Generator().manual_seed(2)
    student, teacher = torch.randn(8, 2, generator=g), torch.randn(8, 2, generator=g)
    labels = torch.tensor([0, 1, -1, -1, 1, -1, 0, -1])
    soft = soft_cross_entropy(student, teacher)
    assert torch.allclose(distill_loss(student, teacher, labels, alpha=0.0), soft)
    hard = F.cross_entropy(student[labels >= 0], labels[labels >= 0])
    assert torch.allclose(distill_loss(student, teacher, labels, alpha=0.3), 0.7 * soft + 0.3 * hard)
    assert torch.allclose(distill_loss(student, teacher, torch.full((8,), -1), alpha=0.3), soft)


def test_a_learners_soft_loss_trains_its_own_cache_entry():
    """The learner's soft loss is a field of D's config, so D with it and D with the kit's are two cached runs."""
    from wellread import recipes
    from wellread.distill import loss_id, soft_cross_entropy
    calls = []

    def mine(student_logits, teacher_logits, temperature):
        calls.append(temperature)
        return soft_cross_entropy(student_logits, teacher_logits, temperature)

    assert loss_id(None) == loss_id(soft_cross_entropy) == "kit" and loss_id(mine).startswith("learner:")
    kits = recipes.run("d", "tiny", "smoke", quiet=True, distill__epochs=0.25)
    yours = recipes.run("d", "tiny", "smoke", quiet=True, distill__epochs=0.25, soft_loss=mine)
    assert calls and kits.path != yours.path  # the learner's loss ran, into a folder of its own
    assert (kits.soft_loss, yours.soft_loss) == ("kit", loss_id(mine))
    again = recipes.run("d", "tiny", "smoke", quiet=True, distill__epochs=0.25)
    assert again.path == kits.path and again.soft_loss == "kit"  # the kit's run is not hidden by the learner's
    with pytest.raises(ValueError, match=r"distill__soft_loss is set from run\(\)'s soft_loss"):
        recipes.run("d", "tiny", "smoke", distill__soft_loss="kit")


def test_a_temperature_below_the_floor_is_refused():
    from wellread.budget import get_budget
    with pytest.raises(ValueError, match="distill__temperature=1e-30: use a number >= 0.05"):
        get_budget("smoke", distill__temperature=1e-30)


def test_a_learners_whole_loss_with_alpha_is_the_loss_that_trains():
    from wellread.distill import distill_loss, loss_id, soft_cross_entropy, whole_loss
    calls = []

    def mine(student_logits, teacher_logits, labels, T=1.0, alpha=0.0):
        calls.append((labels.tolist(), T, alpha))
        return soft_cross_entropy(student_logits, teacher_logits, T) * 0 + 1.5

    s, t, y = torch.randn(4, 2), torch.randn(4, 2), torch.tensor([0, -1, 1, -1])
    assert whole_loss(mine) and not whole_loss(soft_cross_entropy) and not whole_loss(None)
    assert float(distill_loss(s, t, y, 2.0, 0.3, mine)) == 1.5 and calls == [([0, -1, 1, -1], 2.0, 0.3)]
    assert loss_id(mine).startswith("learner:")  # its own cache entry, as notebook 3's soft loss
