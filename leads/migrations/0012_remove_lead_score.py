from django.db import migrations


class Migration(migrations.Migration):
    """The hand-typed score is gone: the score is the sum of the score log (carried over in 0011)."""

    dependencies = [("leads", "0011_carry_over_scores")]
    operations = [migrations.RemoveField(model_name="lead", name="score")]
