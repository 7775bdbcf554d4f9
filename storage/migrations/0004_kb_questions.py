from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.fields.base import OnDelete

class Migration(migrations.Migration):
    dependencies = [('models', '0007_installation_secret')]

    initial = False

    operations = [
        ops.CreateModel(
            name='KbQuestion',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('article_id', fields.CharField(max_length=200, db_index=True)),
                ('text', fields.TextField(unique=False)),
                ('ticket', fields.ForeignKeyField('models.Ticket', source_field='ticket_id', null=True, db_constraint=True, to_field='id', related_name='kb_questions', on_delete=OnDelete.SET_NULL)),
                ('source', fields.CharField(max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'kb_question', 'app': 'models', 'unique_together': (('article_id', 'ticket'),), 'pk_attr': 'id', 'table_description': "An alternate wording of an article's question, learnt from a ticket it answered."},
            bases=['Model'],
        ),
    ]
