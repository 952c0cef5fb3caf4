"""`train arc` refuses an option that cannot work before it loads anything, naming the option."""
import pytest

from lmdmlive.train.arc_options import check_arc_options

GOOD = dict(discriminator="trunk", grad_blocks="last", disc_steps=1, step_choices=("1", 2), sampler="euler",
            disc_conditions="prompt", grad_branch="every", rollout_conditions="window", contrastive=1.0,
            lane_contrastive=0.0, lane_loss=0.0, lane_probe=None, heard_lanes=0.0, distill=0.0, teacher_steps=4)


def test_good_options_pass_and_the_step_choices_come_back_whole():
    assert check_arc_options(**GOOD) == (1, 2)


@pytest.mark.parametrize("change, said", [
    ({"sampler": "heun"}, "sampler must be one of"),
    ({"rollout_conditions": "all"}, "rollout_conditions must be one of"),
    ({"distill": -1.0}, "distill must be 0 or more"),
    ({"contrastive": -0.5}, "contrastive must be 0 or more"),
    ({"teacher_steps": 0}, "teacher_steps must be a whole number from 1 to 64"),
    ({"step_choices": (0, 2)}, "step choices must be whole numbers from 1 to 64"),
    ({"distill": 1.0, "sampler": "pingpong"}, "--sampler euler"),
    ({"lane_loss": 1.0}, "--lane-probe PATH"),
    ({"disc_conditions": "lanes", "discriminator": "latent"}, "only the trunk discriminator reads lanes"),
])
def test_an_option_that_cannot_work_is_named(change, said):
    with pytest.raises(ValueError, match=said.replace("-", "\\-")):
        check_arc_options(**{**GOOD, **change})
